#!/usr/bin/env python3
"""Authorize a sender, allow only authorized senders, then watch the transfers.

A JetStream receive-side script ported to jetrecv: with JetStream it read

    from jetstream import JetStream
    api = JetStream().api('localhost', 8886)
    with api:
        api.server.auth(user, password)
        api.server.superuser()
        api.server.getRequestResult(api.recv.addAuthorizedClientAsync(key))
        ...

and with jetrecv the same calls work after changing the import (``auth`` returns the
session instead of None, and ``getRequestResult`` answers ``{'requestId', 'status',
'result'}``, so the result is under ``'result'``).

    JETRECV_API_PASSWORD=... python3 authorize_and_watch.py --user admin --key x8rB...=

The password comes from $JETRECV_API_PASSWORD or a prompt. Exit status: 0 done (after
--polls rounds, or Ctrl-C), 1 an API error (printed as JSON on stderr), 2 usage.
"""

import argparse
import getpass
import json
import os
import sys
import time
from typing import Any, Dict, List, Optional

from jetrecv import JetRecv, JetRecvApiError


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="localhost", help="API host (default localhost)")
    parser.add_argument("--port", type=int, default=8886, help="API port (default 8886)")
    parser.add_argument("--tls", action="store_true", help="the API speaks HTTPS")
    parser.add_argument("--ca-file", help="PEM certificate to trust for --tls (e.g. the server's self-signed one)")
    parser.add_argument("--user", required=True, help="a user named by the daemon's --superuser")
    parser.add_argument(
        "--key", required=True, help="the sender's public key (the 'public key:' line of jetrecv keygen)"
    )
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between polls (default 2)")
    parser.add_argument("--polls", type=int, default=0, help="stop after this many polls (default 0: until Ctrl-C)")
    args = parser.parse_args(argv)
    if args.interval <= 0:
        parser.error("--interval must be > 0 seconds, got %s" % args.interval)
    if args.polls < 0:
        parser.error("--polls must be >= 0, got %d" % args.polls)
    return args


def transfer_line(transfer: Dict[str, Any]) -> str:
    """One Receive Transfer Structure as a line: id, status, progress, rate, destination."""
    total = transfer["totalSize"]
    done = 100.0 * transfer["bytesReceived"] / total if total else 100.0
    return "%s %-9s %5.1f%% %10.0f kbit/s  %s" % (
        transfer["transferId"],
        transfer["status"],
        done,
        transfer["recvRate"],
        transfer["destinationPath"],
    )


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    password = os.environ.get("JETRECV_API_PASSWORD") or getpass.getpass("password for %s: " % args.user)
    api = JetRecv().api(args.host, args.port, tls=args.tls, ca_file=args.ca_file)
    try:
        with api:
            api.server.auth(args.user, password)
            api.server.superuser()

            request = api.recv.addAuthorizedClientAsync(args.key)
            added = api.server.getRequestResult(request)["result"]
            print("authorized %s%s" % (added["clientPublicKey"], "" if added["added"] else " (already listed)"))

            api.wait(api.recv.allowOnlyAuthorizedClientsAsync(True))
            print("allow-only: on")

            polls = 0
            while True:
                for transfer in api.wait(api.recv.getTransfersAsync()):
                    print(transfer_line(transfer))
                sys.stdout.flush()
                polls += 1
                if args.polls and polls >= args.polls:
                    return 0
                time.sleep(args.interval)
    except JetRecvApiError as err:
        print(json.dumps(err.to_dict()), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
