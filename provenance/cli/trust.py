"""``provenance trust``: what verify trusts (and since when), and installing newer public lists."""
from __future__ import annotations

from ._base import EXIT_OK, add_command, add_group, add_json, print_json


def cmd_trust_show(args) -> int:
    from provenance import describe_trust

    sources = describe_trust(args.trust, public=not args.no_public_trust)
    if args.json:
        print_json(sources)
        return EXIT_OK
    for s in sources:
        where = s.get("version") or s.get("file")
        print(f"{s['list']}: trusted since {s['since']} ({where}); {s['purpose']}")
        print(f"  {len(s['anchors'])} anchors" + (f", {len(s['allowed'])} pinned signing certificates"
                                                  if s["allowed"] else "")
              + (f", accepted EKUs {', '.join(s['ekus'])}" if s.get("ekus") else ""))
        for c in s["anchors"] if args.anchors else []:
            org = f", {c['organization']}" if c["organization"] else ""
            print(f"    {c['subject']}{org} (valid {c['not_before']} .. {c['not_after']}; sha256 {c['sha256'][:16]}…)")
    return EXIT_OK


def cmd_trust_update(args) -> int:
    from provenance import install_lists

    done = install_lists(args.files)
    if args.json:
        print_json(done)
        return EXIT_OK
    for d in done:
        state = "installed" if d["changed"] else "unchanged"
        print(f"{d['file']}: {state} ({d['holds']}; {d['list']} list {d['role']}, since {d['installed_at']})")
    return EXIT_OK


def register(commands) -> None:
    sub = add_group(commands, "trust", "show what verify trusts, or install newer public C2PA trust lists",
                    "provenance trust show\n  provenance trust update C2PA-TRUST-LIST.pem", dest="trust_command")
    p = add_command(sub, "show", cmd_trust_show,
                    "list every trust source (own root, trust-anchors.pem, --trust, the C2PA Trust List, the interim "
                    "list) with its anchors and since when it is trusted",
                    "provenance trust show --anchors\n  provenance trust show --json")
    p.add_argument("--trust", action="append", metavar="PEM", help="also list these anchor files (as verify --trust)")
    p.add_argument("--no-public-trust", action="store_true", help="leave out the public lists")
    p.add_argument("--anchors", action="store_true", help="list each anchor certificate too")
    add_json(p)
    p = add_command(sub, "update", cmd_trust_update,
                    "install newer copies of the public lists (files named as published: C2PA-TRUST-LIST.pem, "
                    "C2PA-TSA-TRUST-LIST.pem, C2PA-INTERIM-TRUST-LIST-anchors.pem, -allowed.pem, -store.cfg) into "
                    "the trust folder (PROVENANCE_HOME/trust); they replace the shipped snapshots from then on",
                    "provenance trust update ~/Downloads/C2PA-TRUST-LIST.pem")
    p.add_argument("files", nargs="+", metavar="FILE")
    add_json(p)
