"""``paygate audit …``: digest, verify, export and replay, as the CLI runs them (exit codes included)."""

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import psycopg

from audit import digest as digests
from audit import export, verify


def add_parser(sub: Any) -> None:
    a = sub.add_parser("audit", help="tamper evidence: signed digests, verification, exports, replay")
    asub = a.add_subparsers(dest="audit_command", required=True)
    d = asub.add_parser("digest", help="sign the chain's head (chain_seq, hash, Merkle root) and print it")
    d.add_argument("--out", type=Path, help="also write the digest to this file")
    v = asub.add_parser("verify", help="recompute the chain from the raw rows (or check an export offline)")
    v.add_argument("--digest", type=Path, help="a digest from `audit digest`: the log must match it")
    v.add_argument("--file", type=Path, help="an export to check offline (no database needed)")
    v.add_argument("--public-key", help="the operator's published key (hex) the digests must be signed with")
    e = asub.add_parser("export", help="write the chained log as JSON Lines with its signed digest")
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--merchant", help="only this merchant's events, each with its Merkle inclusion proof")
    r = asub.add_parser("replay", help="rebuild every projection from the log into a scratch schema and diff")
    r.add_argument("--json", action="store_true", help="print the report as JSON")
    r.add_argument(
        "--parts",
        type=_positive,
        default=os.cpu_count() or 1,
        help="fold the log in this many processes, cut by stream (default: one per core)",
    )


def _positive(text: str) -> int:
    n = int(text)
    if not 1 <= n <= 64:
        raise argparse.ArgumentTypeError("must be between 1 and 64")
    return n


def _load_digest(path: Path, public_key: str | None) -> dict[str, Any]:
    return digests.check(json.loads(path.read_text()), public_key)


def offline(args: argparse.Namespace) -> int | None:
    """``audit verify --file``: needs no database; None when the command needs one."""
    if args.audit_command != "verify" or args.file is None:
        return None
    try:
        against = json.loads(args.digest.read_text()) if args.digest else None
        with args.file.open(encoding="utf-8") as f:
            count = export.verify(f, against, args.public_key)
    except (export.ExportError, OSError, ValueError) as e:
        print(f"paygate audit verify: {args.file}: {e}", file=sys.stderr)
        return 1
    print(f"paygate audit verify: {args.file}: {count} events verify")
    return 0


async def run(args: argparse.Namespace, database_url: str, key: Any) -> int:
    """Every ``audit`` command that reads the database (``key`` builds the signing key when needed)."""
    if args.audit_command == "replay":
        from audit import replay

        return await replay.main(database_url, args.json, getattr(args, "parts", 1))
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        if args.audit_command == "digest":
            made = await digests.make(conn, key())
            text = export.dumps(made)
            if args.out:
                args.out.write_text(text + "\n")
            print(text)
            return 0
        if args.audit_command == "export":
            made = await digests.make(conn, key())
            with args.out.open("w", encoding="utf-8") as f:
                count = await export.write(conn, f, made, args.merchant)
            print(f"paygate audit export: {count} events up to chain_seq {made['chain_seq']} in {args.out}")
            return 0
        try:
            against = _load_digest(args.digest, args.public_key) if args.digest else None
        except (digests.DigestError, OSError, ValueError) as e:
            print(f"paygate audit verify: {args.digest}: {e}", file=sys.stderr)
            return 2
        finding = await verify.verify(conn, against)
    if finding is not None:
        print(f"paygate audit verify: TAMPERED at {finding}", file=sys.stderr)
        return 1
    head = f"chain_seq {against['chain_seq']}" if against else "the recorded chain's head"
    print(f"paygate audit verify: intact up to {head}")
    return 0
