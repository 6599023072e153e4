#!/usr/bin/env bash
# uninstall-service.sh — reverses install-service.sh. Run as root.
# By default it stops and disables the service and removes the unit, its install drop-in,
# the sysctl drop-in, the installed package and /usr/local/bin/jetrecv, and KEEPS the
# config (/etc/jetrecv), the state (/var/lib/jetrecv: server key, authorized clients,
# users, checkpoints), the received files and the 'jetrecv' user.
# --purge also deletes those (asks first on a terminal unless --yes).
# Kernel limits already applied stay in force until reboot; the drop-in is just removed.
set -euo pipefail

SERVICE=jetrecv
SERVICE_USER=jetrecv
DEFAULT_PREFIX=/opt/jetrecv
DEFAULT_SANDBOX=/srv/jetrecv
CONFIG_DIR=/etc/jetrecv
CONFIG_FILE=$CONFIG_DIR/jetrecv.conf
STATE_DIR=/var/lib/jetrecv
UNIT_DIR=/etc/systemd/system
SYSCTL_FILE=/etc/sysctl.d/99-jetrecv.conf
BIN_LINK=/usr/local/bin/jetrecv

usage() {
  cat <<EOF
Usage: sudo scripts/uninstall-service.sh [options]

Removes the systemd service '$SERVICE' and the installed package. Keeps the config, the
state, the received files and the user unless --purge.

Options:
  --prefix DIR   where the package was installed (default: found from $BIN_LINK,
                 else $DEFAULT_PREFIX)
  --purge        also delete $CONFIG_DIR, $STATE_DIR, the sandbox directory named by the
                 config's "sandbox-dir" (every received file) and the $SERVICE_USER user
  --yes          do not ask before --purge deletes data
  --destdir DIR  operate on a tree staged by install-service.sh --destdir
  -h, --help     show this help
EOF
}

die() { echo "uninstall-service: error: $*" >&2; exit 1; }
note() { echo "uninstall-service: $*"; }
warn() { echo "uninstall-service: warning: $*" >&2; }

PREFIX=
PURGE=0
YES=0
DESTDIR=
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; PREFIX=$2; shift 2 ;;
    --prefix=*) PREFIX=${1#*=}; shift ;;
    --purge) PURGE=1; shift ;;
    --yes|-y) YES=1; shift ;;
    --destdir) [ $# -ge 2 ] || die "--destdir needs a directory"; DESTDIR=$2; shift 2 ;;
    --destdir=*) DESTDIR=${1#*=}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option '$1'" ;;
  esac
done
if [ -n "$DESTDIR" ]; then
  [ -d "$DESTDIR" ] || die "--destdir $DESTDIR does not exist"
  DESTDIR=$(cd "$DESTDIR" && pwd)
  [ "$DESTDIR" != / ] || DESTDIR=
fi
STAGED=0
[ -z "$DESTDIR" ] || STAGED=1
if [ "$STAGED" = 0 ] && [ "$(id -u)" != 0 ]; then die "run as root (sudo $0 ...)"; fi

# The prefix: as given, else where the command symlink points (PREFIX/bin/jetrecv.js).
if [ -z "$PREFIX" ]; then
  PREFIX=$DEFAULT_PREFIX
  if [ -L "$DESTDIR$BIN_LINK" ]; then
    link=$(readlink "$DESTDIR$BIN_LINK")
    case "$link" in */bin/jetrecv.js) PREFIX=${link%/bin/jetrecv.js} ;; esac
  fi
fi
case "$PREFIX" in /*) ;; *) die "--prefix must be an absolute path, got '$PREFIX'" ;; esac
PREFIX=${PREFIX%/}
[ "$PREFIX" != "" ] && [ "$PREFIX" != /usr ] && [ "$PREFIX" != /opt ] || die "refusing to delete prefix '$PREFIX'"

# The sandbox, read from the config before it may be deleted.
SANDBOX=
if [ -f "$DESTDIR$CONFIG_FILE" ] && command -v node >/dev/null; then
  SANDBOX=$(node -e '
    try { const v = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))["sandbox-dir"];
          if (typeof v === "string") process.stdout.write(require("path").resolve(require("path").dirname(process.argv[1]), v)); }
    catch {}' "$DESTDIR$CONFIG_FILE")
fi
SANDBOX=${SANDBOX:-$DEFAULT_SANDBOX}

if [ "$PURGE" = 1 ] && [ "$YES" = 0 ] && [ -t 0 ]; then
  echo "--purge deletes: $DESTDIR$CONFIG_DIR, $DESTDIR$STATE_DIR (the server key!), $DESTDIR$SANDBOX (every received file) and the user $SERVICE_USER."
  read -r -p "Type 'purge' to go on: " answer
  [ "$answer" = purge ] || die "not confirmed; nothing was changed"
fi

# --- service ----------------------------------------------------------------------------
if [ "$STAGED" = 0 ] && [ -d /run/systemd/system ]; then
  if systemctl list-unit-files "$SERVICE.service" >/dev/null 2>&1; then
    systemctl disable --now "$SERVICE.service" 2>/dev/null || true
    note "stopped and disabled $SERVICE"
  fi
elif [ "$STAGED" = 0 ]; then
  note "systemd is not running here: nothing to stop (stop a foreground jetrecv yourself)"
fi
rm -f "$DESTDIR$UNIT_DIR/$SERVICE.service" "$DESTDIR$UNIT_DIR/$SERVICE.service.d/10-install.conf"
if [ -d "$DESTDIR$UNIT_DIR/$SERVICE.service.d" ]; then
  rmdir "$DESTDIR$UNIT_DIR/$SERVICE.service.d" 2>/dev/null ||
    note "kept $UNIT_DIR/$SERVICE.service.d: it holds your own drop-ins"
fi
if [ "$STAGED" = 0 ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl reset-failed "$SERVICE.service" 2>/dev/null || true
fi

# --- files ------------------------------------------------------------------------------
rm -f "$DESTDIR$SYSCTL_FILE"
if [ -L "$DESTDIR$BIN_LINK" ] && [ "$(readlink "$DESTDIR$BIN_LINK")" = "$PREFIX/bin/jetrecv.js" ]; then
  rm -f "$DESTDIR$BIN_LINK"
fi
if [ -e "$DESTDIR$PREFIX" ]; then
  [ -f "$DESTDIR$PREFIX/bin/jetrecv.js" ] || die "$DESTDIR$PREFIX does not look like a jetrecv install (no bin/jetrecv.js); not deleting it"
  rm -rf "$DESTDIR$PREFIX"
  note "removed $DESTDIR$PREFIX"
fi

if [ "$PURGE" = 0 ]; then
  note "kept $CONFIG_DIR, $STATE_DIR, $SANDBOX and the user $SERVICE_USER (use --purge to delete them)"
  exit 0
fi

# --- purge ------------------------------------------------------------------------------
for dir in "$CONFIG_DIR" "$STATE_DIR" "$SANDBOX"; do
  case "$dir" in /|/etc|/var|/var/lib|/srv|/home|/root|/usr|/opt|/tmp) die "refusing to delete '$dir'" ;; esac
  if [ -e "$DESTDIR$dir" ]; then rm -rf "$DESTDIR$dir"; note "deleted $DESTDIR$dir"; fi
done
if [ "$STAGED" = 0 ]; then
  if getent passwd "$SERVICE_USER" >/dev/null; then userdel "$SERVICE_USER" && note "deleted user $SERVICE_USER"; fi
  if getent group "$SERVICE_USER" >/dev/null; then groupdel "$SERVICE_USER" 2>/dev/null && note "deleted group $SERVICE_USER" || true; fi
fi
