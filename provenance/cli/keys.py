"""``provenance keys``: create, import or show the signing key and its certificate chain."""
from __future__ import annotations

from pathlib import Path

from ._base import (EXIT_OK, PASSPHRASE_ENV, UsageError, add_command, add_group, add_json, passphrase,
                    print_json)


def cmd_keys_init(args) -> int:
    from provenance import describe_keys, import_keys, init_keys

    if (args.cert is None) != (args.key is None):
        raise UsageError("give both --cert and --key to import your own key, or neither to create one")
    if args.cert:
        directory = import_keys(cert=Path(args.cert), key=Path(args.key), passphrase=passphrase(args),
                                overwrite=args.overwrite)
    else:
        directory = init_keys(org=args.org, passphrase=passphrase(args), overwrite=args.overwrite)
    info = describe_keys(directory)
    if args.json:
        print_json(info)
    else:
        print(f"keys written to {directory}")
        _print_key_info(info)
        if info["trust_anchor"]:
            print(f"verifiers should trust: {info['trust_anchor']}")
    return EXIT_OK


def _print_key_info(info: dict) -> None:
    print(f"private key: {info['key_file']} (mode {info['key_mode']}, "
          f"{'encrypted' if info['key_encrypted'] else 'not encrypted'})")
    for i, c in enumerate(info["certificates"]):
        role = "signing certificate" if i == 0 else ("root CA" if c["is_ca"] else "certificate")
        print(f"{role}:\n  subject:  {c['subject']}\n  issuer:   {c['issuer']}\n"
              f"  valid:    {c['not_before']} .. {c['not_after']}\n  sha256:   {c['sha256_fingerprint']}")


def cmd_keys_show(args) -> int:
    from provenance import describe_keys

    info = describe_keys()
    print_json(info) if args.json else _print_key_info(info)
    return EXIT_OK


def register(commands) -> None:
    keys_sub = add_group(commands, "keys", "create or show the signing key and certificate chain",
                         'provenance keys init --org "Example Newsroom"\n  provenance keys show --json',
                         dest="keys_command")
    p = add_command(keys_sub, "init", cmd_keys_init, "create a root CA and an ES256 signing certificate (once)",
                    'provenance keys init --org "Example Newsroom"')
    p.add_argument("--org", default="Provenance User", help="organisation name in the certificates")
    p.add_argument("--cert", help="import this PEM chain (leaf first) instead of creating one")
    p.add_argument("--key", help="import this PEM private key (with --cert)")
    p.add_argument("--passphrase-file", help=f"encrypt the private key with the passphrase in this file (or {PASSPHRASE_ENV})")
    p.add_argument("--overwrite", action="store_true", help="replace existing keys")
    add_json(p)
    p = add_command(keys_sub, "show", cmd_keys_show, "print subject, issuer, validity and fingerprint of the keys",
                    "provenance keys show --json")
    add_json(p)
