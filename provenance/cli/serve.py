"""``provenance serve``: the C2PA Soft Binding Resolution API (and an upload page) over a registry."""
from __future__ import annotations

import sys

from ._base import EXIT_OK, UsageError, add_command, add_max_pixels, positive_int


def cmd_serve(args) -> int:
    from pathlib import Path

    from provenance import registry_path, trust_anchors
    from provenance.serve import SCOPES, TokenStore, new_token

    if args.new_token:
        if not args.token_file:
            raise UsageError("--new-token needs --token-file FILE (where its hash is kept)")
        scopes = tuple(s.strip() for s in args.scopes.split(",") if s.strip())
        if not scopes or set(scopes) - set(SCOPES):
            raise UsageError(f"--scopes: choose from {','.join(SCOPES)}")
        print(new_token(args.token_file, scopes))
        print(f"provenance: token for {','.join(scopes)} added to {args.token_file} (only its hash is kept; "
              "this is the only time it is shown)", file=sys.stderr)
        return EXIT_OK
    from provenance.serve._run import serve

    pem, _sources = trust_anchors(args.trust)
    tokens = TokenStore.load(args.token_file)
    if not tokens.entries:
        print("provenance: no --token-file: the store and delete routes refuse every request", file=sys.stderr)
    serve(host=args.host, port=args.port, registry=Path(args.registry) if args.registry else registry_path(),
          tokens=tokens, private=args.private, max_body_bytes=args.max_body_mb * 1024 * 1024,
          time_limit_s=args.time_limit, max_pixels=args.max_pixels, trust_anchors_pem=pem, web=not args.no_web)
    return EXIT_OK


def register(commands) -> None:
    p = add_command(commands, "serve", cmd_serve,
                    "run the C2PA Soft Binding Resolution API (and an upload page at /) over a registry: "
                    "anyone holding a stripped copy gets its Content Credentials back",
                    "provenance serve --port 8731 --token-file tokens.txt\n"
                    "  provenance serve --new-token --token-file tokens.txt     # prints a store token once\n"
                    "  provenance stamp in.png -o out.png --publish http://127.0.0.1:8731 --publish-token-file t\n"
                    "  provenance verify stripped.jpg --resolver http://127.0.0.1:8731")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8731, help="port (default 8731; 0: any free port, printed)")
    p.add_argument("--registry", metavar="PATH",
                   help="the registry file served (default: the local registry, PROVENANCE_HOME)")
    p.add_argument("--token-file", metavar="F",
                   help="bearer tokens for the store and delete routes, one 'sha256:HEX SCOPES' a line")
    p.add_argument("--new-token", action="store_true",
                   help="make a token, add its hash to --token-file, print the token and exit")
    p.add_argument("--scopes", default="store:manifests,store:bindings",
                   help="the new token's scopes (default store:manifests,store:bindings)")
    p.add_argument("--private", action="store_true",
                   help="query and fetch routes need a token with fetch:manifests too (default: open)")
    p.add_argument("--max-body-mb", type=positive_int("a positive number of MB"), default=50,
                   help="largest request body accepted, in MB (default 50; larger: 413)")
    p.add_argument("--time-limit", type=float, default=30.0, metavar="S",
                   help="seconds one request may take (default 30)")
    p.add_argument("--trust", action="append", metavar="PEM", help="extra trust anchors for the upload page's verify")
    p.add_argument("--no-web", action="store_true", help="no upload page at /: the API only")
    add_max_pixels(p)
