#!/usr/bin/env bash
# install-service.sh — installs jetrecv as a systemd service from a built source tree.
# Run as root from a checkout where `npm install` has run (it builds the addon and dist/).
# Idempotent: running it again upgrades the installed files and restarts the service,
# and never overwrites /etc/jetrecv/jetrecv.conf, the state or the received files.
#
# What it does (see docs/OPERATIONS.md):
#   1. system user and group 'jetrecv' (no login, home /var/lib/jetrecv)
#   2. the package into PREFIX (default /opt/jetrecv): a copy of the built tree (bin, dist,
#      proto, the .node addon, docs, systemd) plus node_modules copied from the checkout and
#      pruned to production dependencies (offline: no registry access needed)
#   3. /usr/local/bin/jetrecv -> PREFIX/bin/jetrecv.js
#   4. /etc/systemd/system/jetrecv.service (+ jetrecv.service.d/10-install.conf when the
#      prefix, node or sandbox differ from the unit's defaults)
#   5. /etc/sysctl.d/99-jetrecv.conf, applied now (only raising current limits)
#   6. /etc/jetrecv/jetrecv.conf (root:jetrecv 0640) if none exists
#   7. the sandbox directory (default /srv/jetrecv) and /var/lib/jetrecv, owned by jetrecv
#   8. systemctl daemon-reload, enable --now (restart if it was running); skipped with a
#      message when systemd is not running (containers)
#
# --destdir DIR stages every file under DIR instead (for packaging or a dry look): no user
# is created, nothing is chowned, applied or started, and root is not required.
set -euo pipefail

SERVICE=jetrecv
SERVICE_USER=jetrecv
DEFAULT_PREFIX=/opt/jetrecv
DEFAULT_SANDBOX=/srv/jetrecv
DEFAULT_NODE=/usr/bin/node
CONFIG_DIR=/etc/jetrecv
CONFIG_FILE=$CONFIG_DIR/jetrecv.conf
STATE_DIR=/var/lib/jetrecv
UNIT_DIR=/etc/systemd/system
SYSCTL_FILE=/etc/sysctl.d/99-jetrecv.conf
BIN_LINK=/usr/local/bin/jetrecv

usage() {
  cat <<EOF
Usage: sudo scripts/install-service.sh [options]

Installs jetrecv as the systemd service '$SERVICE' from this (built) source tree.

Options:
  --prefix DIR        where the package is installed (default $DEFAULT_PREFIX)
  --sandbox-dir DIR   where received files land (default: the existing config's
                      "sandbox-dir", else $DEFAULT_SANDBOX)
  --no-start          enable the service but do not start or restart it
  --no-sysctl         do not install or apply the sysctl drop-in
  --destdir DIR       stage all files under DIR; create no user, start nothing
  -h, --help          show this help
EOF
}

die() { echo "install-service: error: $*" >&2; exit 1; }
note() { echo "install-service: $*"; }
warn() { echo "install-service: warning: $*" >&2; }

PREFIX=$DEFAULT_PREFIX
SANDBOX=
START=1
SYSCTL=1
DESTDIR=
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; PREFIX=$2; shift 2 ;;
    --prefix=*) PREFIX=${1#*=}; shift ;;
    --sandbox-dir) [ $# -ge 2 ] || die "--sandbox-dir needs a directory"; SANDBOX=$2; shift 2 ;;
    --sandbox-dir=*) SANDBOX=${1#*=}; shift ;;
    --no-start) START=0; shift ;;
    --no-sysctl) SYSCTL=0; shift ;;
    --destdir) [ $# -ge 2 ] || die "--destdir needs a directory"; DESTDIR=$2; shift 2 ;;
    --destdir=*) DESTDIR=${1#*=}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option '$1'" ;;
  esac
done

case "$PREFIX" in /*) ;; *) die "--prefix must be an absolute path, got '$PREFIX'" ;; esac
PREFIX=${PREFIX%/}
if [ -n "$SANDBOX" ]; then
  case "$SANDBOX" in /*) ;; *) die "--sandbox-dir must be an absolute path, got '$SANDBOX'" ;; esac
  SANDBOX=${SANDBOX%/}
fi
if [ -n "$DESTDIR" ]; then
  mkdir -p "$DESTDIR"
  DESTDIR=$(cd "$DESTDIR" && pwd)
  [ "$DESTDIR" != / ] || DESTDIR=
fi
STAGED=0
[ -z "$DESTDIR" ] || STAGED=1
if [ "$STAGED" = 0 ] && [ "$(id -u)" != 0 ]; then
  die "run as root (sudo $0 ...), or use --destdir DIR to stage the files only"
fi

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
for need in package.json package-lock.json bin/jetrecv.js dist/cli/main.js build/Release/jetrecv_native.node node_modules; do
  [ -e "$SRC/$need" ] || die "$SRC/$need is missing: run 'npm install' (it builds the addon and dist/) in $SRC first"
done

# --- node -------------------------------------------------------------------------------
NODE=$(command -v node || true)
[ -n "$NODE" ] || die "node is not on PATH; install Node.js 20 or newer (e.g. Debian: apt-get install nodejs)"
command -v npm >/dev/null || die "npm is not on PATH (it prunes the copied node_modules); install npm"
NODE=$(readlink -f "$NODE")
NODE_MAJOR=$("$NODE" -p 'process.versions.node.split(".")[0]')
[ "$NODE_MAJOR" -ge 20 ] || die "$NODE is Node.js $NODE_MAJOR; jetrecv needs 20 or newer"
case "$NODE" in
  /home/*|/root/*|/run/user/*)
    die "node is at $NODE, which the service cannot see (ProtectHome=yes). Install Node.js system-wide (e.g. /usr/bin/node or /usr/local/bin/node)" ;;
esac
if [ "$NODE" != "$DEFAULT_NODE" ] && [ "$(readlink -f "$DEFAULT_NODE" 2>/dev/null || true)" = "$NODE" ]; then
  NODE=$DEFAULT_NODE # /usr/bin/node is a symlink to the same binary: keep the unit's default
fi

# --- sandbox: keep what an existing config says unless told otherwise --------------------
config_sandbox() {
  "$NODE" -e '
    try { const v = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))["sandbox-dir"];
          if (typeof v === "string") process.stdout.write(require("path").resolve(require("path").dirname(process.argv[1]), v)); }
    catch { /* unreadable or invalid: the validation step below reports it */ }' "$1"
}
EXISTING_SANDBOX=
if [ -f "$DESTDIR$CONFIG_FILE" ]; then EXISTING_SANDBOX=$(config_sandbox "$DESTDIR$CONFIG_FILE"); fi
if [ -z "$SANDBOX" ]; then
  SANDBOX=${EXISTING_SANDBOX:-$DEFAULT_SANDBOX}
elif [ -n "$EXISTING_SANDBOX" ] && [ "$EXISTING_SANDBOX" != "$SANDBOX" ]; then
  die "$CONFIG_FILE says \"sandbox-dir\": \"$EXISTING_SANDBOX\" but --sandbox-dir is $SANDBOX; edit the config file or drop --sandbox-dir"
fi

# --- 1. user ----------------------------------------------------------------------------
if [ "$STAGED" = 0 ]; then
  if ! getent group "$SERVICE_USER" >/dev/null; then
    groupadd --system "$SERVICE_USER"
    note "created group $SERVICE_USER"
  fi
  if ! getent passwd "$SERVICE_USER" >/dev/null; then
    NOLOGIN=$(command -v nologin || echo /usr/sbin/nologin)
    useradd --system --gid "$SERVICE_USER" --home-dir "$STATE_DIR" --no-create-home \
      --shell "$NOLOGIN" --comment "jetrecv receive server" "$SERVICE_USER"
    note "created system user $SERVICE_USER"
  fi
fi

# --- 2. package files -------------------------------------------------------------------
# Staged next to the target, then swapped in, so a failed copy leaves the old install whole.
TARGET=$DESTDIR$PREFIX
NEW=$TARGET.new.$$
OLD=$TARGET.old.$$
cleanup() { rm -rf "$NEW" "$OLD"; }
trap cleanup EXIT
mkdir -p "$(dirname "$TARGET")"
rm -rf "$NEW"
mkdir -p "$NEW/build/Release"
for item in package.json package-lock.json bin dist proto docs systemd README.md LICENSE; do
  if [ -e "$SRC/$item" ]; then cp -a "$SRC/$item" "$NEW/"; fi
done
cp -a "$SRC/build/Release/jetrecv_native.node" "$NEW/build/Release/"
# The counters' help texts for /metrics are read from the source list of counters.
if [ -f "$SRC/native/src/core/counters.def" ]; then
  mkdir -p "$NEW/native/src/core" && cp -a "$SRC/native/src/core/counters.def" "$NEW/native/src/core/"
fi
cp -a "$SRC/node_modules" "$NEW/"
(cd "$NEW" && npm prune --omit=dev --ignore-scripts --offline --no-audit --no-fund >/dev/null) ||
  die "npm prune --omit=dev failed in $NEW"
chmod 0755 "$NEW/bin/jetrecv.js"
chmod -R go-w "$NEW"
[ "$STAGED" = 1 ] || chown -R root:root "$NEW"
if [ -e "$TARGET" ]; then mv "$TARGET" "$OLD"; fi
mv "$NEW" "$TARGET"
rm -rf "$OLD"
note "installed jetrecv $("$NODE" -p 'require(process.argv[1]).version' "$TARGET/package.json") to $TARGET"

# --- 3. command on PATH -----------------------------------------------------------------
mkdir -p "$DESTDIR$(dirname "$BIN_LINK")"
ln -sfn "$PREFIX/bin/jetrecv.js" "$DESTDIR$BIN_LINK"

# --- 4. unit and install drop-in --------------------------------------------------------
mkdir -p "$DESTDIR$UNIT_DIR"
install -m 0644 "$SRC/systemd/jetrecv.service" "$DESTDIR$UNIT_DIR/$SERVICE.service"
DROPIN_DIR=$DESTDIR$UNIT_DIR/$SERVICE.service.d
DROPIN=$DROPIN_DIR/10-install.conf
if [ "$PREFIX" != "$DEFAULT_PREFIX" ] || [ "$NODE" != "$DEFAULT_NODE" ] || [ "$SANDBOX" != "$DEFAULT_SANDBOX" ]; then
  mkdir -p "$DROPIN_DIR"
  cat >"$DROPIN" <<EOF
# Written by scripts/install-service.sh; rewritten on every install. Put your own changes
# in another drop-in (systemctl edit $SERVICE).
[Unit]
Documentation=
Documentation=file:$PREFIX/docs/OPERATIONS.md

[Service]
ExecStart=
ExecStart=$NODE $PREFIX/bin/jetrecv.js serve --config $CONFIG_FILE --persistent-state-dir $STATE_DIR
ReadWritePaths=
ReadWritePaths=$SANDBOX
EOF
  chmod 0644 "$DROPIN"
  note "wrote $DROPIN (prefix $PREFIX, node $NODE, sandbox $SANDBOX)"
elif [ -e "$DROPIN" ]; then
  rm -f "$DROPIN"
  rmdir "$DROPIN_DIR" 2>/dev/null || true
fi

# --- 5. sysctl --------------------------------------------------------------------------
if [ "$SYSCTL" = 1 ]; then
  mkdir -p "$DESTDIR$(dirname "$SYSCTL_FILE")"
  install -m 0644 "$SRC/systemd/99-jetrecv.conf" "$DESTDIR$SYSCTL_FILE"
  if [ "$STAGED" = 0 ]; then
    # Apply now, but never lower a limit that is already higher on the running kernel.
    while IFS='=' read -r key value; do
      key=$(echo "$key" | tr -d ' '); value=$(echo "$value" | tr -d ' ')
      case "$key" in ''|'#'*) continue ;; esac
      current=$(sysctl -n "$key" 2>/dev/null || echo "")
      if [ -z "$current" ]; then
        warn "cannot read $key (no such key, or /proc/sys is not visible here); not applied"
      elif [ "$current" -ge "$value" ]; then
        note "$key is $current (>= $value): left as is"
      else
        # sysctl may exit 0 although the write failed: trust only a read-back.
        sysctl -q -w "$key=$value" >/dev/null 2>&1 || true
        if [ "$(sysctl -n "$key" 2>/dev/null || echo "")" = "$value" ]; then
          note "$key raised from $current to $value"
        else
          warn "could not set $key=$value (read-only /proc/sys, as in containers?); set it on the host"
        fi
      fi
    done <"$SRC/systemd/99-jetrecv.conf"
  fi
fi

# --- 6. config --------------------------------------------------------------------------
mkdir -p "$DESTDIR$CONFIG_DIR"
chmod 0750 "$DESTDIR$CONFIG_DIR"
[ "$STAGED" = 1 ] || chown root:"$SERVICE_USER" "$DESTDIR$CONFIG_DIR"
if [ -e "$DESTDIR$CONFIG_FILE" ]; then
  note "kept the existing $CONFIG_FILE"
else
  SANDBOX="$SANDBOX" "$NODE" -e '
    const fs = require("fs");
    const text = fs.readFileSync(process.argv[1], "utf8")
      .replace(/"sandbox-dir": "[^"]*"/, `"sandbox-dir": ${JSON.stringify(process.env.SANDBOX)}`);
    fs.writeFileSync(process.argv[2], text, { mode: 0o640, flag: "wx" });' \
    "$SRC/systemd/jetrecv.conf.example" "$DESTDIR$CONFIG_FILE"
  [ "$STAGED" = 1 ] || chown root:"$SERVICE_USER" "$DESTDIR$CONFIG_FILE"
  note "wrote a default $CONFIG_FILE"
fi
if ! CHECK=$("$NODE" --input-type=module -e '
    const { loadConfigFile } = await import(process.argv[1]);
    loadConfigFile(process.argv[2]);' "$TARGET/dist/config/config-file.js" "$DESTDIR$CONFIG_FILE" 2>&1); then
  warn "$CONFIG_FILE does not validate; the service will refuse to start until it is fixed:"
  echo "$CHECK" | grep -m1 -E 'JETRECV_ERR|Error' >&2 || echo "$CHECK" | tail -n 3 >&2
fi

# --- 7. directories ---------------------------------------------------------------------
if [ "$STAGED" = 1 ]; then
  mkdir -p "$DESTDIR$STATE_DIR" "$DESTDIR$SANDBOX"
  chmod 0700 "$DESTDIR$STATE_DIR"; chmod 0750 "$DESTDIR$SANDBOX"
else
  install -d -m 0700 -o "$SERVICE_USER" -g "$SERVICE_USER" "$STATE_DIR"
  if [ -d "$SANDBOX" ]; then
    owner=$(stat -c %U "$SANDBOX")
    [ "$owner" = "$SERVICE_USER" ] ||
      warn "$SANDBOX exists and is owned by $owner, not $SERVICE_USER: the service cannot write there unless you chown it (chown $SERVICE_USER: $SANDBOX)"
  else
    install -d -m 0750 -o "$SERVICE_USER" -g "$SERVICE_USER" "$SANDBOX"
    note "created the sandbox $SANDBOX"
  fi
fi

# --- 8. systemd -------------------------------------------------------------------------
if [ "$STAGED" = 1 ]; then
  note "staged under $DESTDIR; nothing was started"
elif [ ! -d /run/systemd/system ]; then
  note "systemd is not running here (PID 1 is $(ps -o comm= -p 1 2>/dev/null || echo unknown)): skipped daemon-reload and enable."
  note "run it in the foreground instead:  runuser -u $SERVICE_USER -- $NODE $PREFIX/bin/jetrecv.js serve --config $CONFIG_FILE --persistent-state-dir $STATE_DIR"
else
  systemctl daemon-reload
  if [ "$START" = 0 ]; then
    systemctl enable "$SERVICE.service"
    note "enabled $SERVICE (not started: --no-start)"
  elif systemctl is-active --quiet "$SERVICE.service"; then
    systemctl enable "$SERVICE.service"
    systemctl restart "$SERVICE.service"
    note "enabled and restarted $SERVICE"
  else
    systemctl enable --now "$SERVICE.service"
    note "enabled and started $SERVICE"
  fi
  note "status: systemctl status $SERVICE    logs: journalctl -u $SERVICE -f"
fi
