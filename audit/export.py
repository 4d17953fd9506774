"""Exports of the log as JSON Lines with their chain fields, and their offline verification (no database).

Line 1 is a header holding the signed digest the export was made against. Every further line is one event:
``{"chain_seq", "hash", "event"}``, and in a merchant's slice also ``"proof"``, the RFC 6962 inclusion proof of
the event's leaf (index ``chain_seq - 1``) in the digest's tree. Every line is the canonical JSON of its
content (sorted keys, no whitespace, UTF-8), so a changed byte anywhere is found.
"""

import json
from collections.abc import Iterable, Iterator
from typing import IO, Any

import psycopg

from audit import digest as digests
from audit import merkle, spec

KIND = "paygate.audit.export.v1"
_EVENT_FIELDS = set(spec.FIELDS)


class ExportError(Exception):
    """The export does not verify; the message names the line and what is wrong."""


def dumps(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


async def write(conn: psycopg.AsyncConnection[Any], out: IO[str], digest: dict[str, Any], merchant: str | None) -> int:
    """Write every chained event up to ``digest``'s head (only ``merchant``'s, with proofs, when given) to
    ``out``; returns the number of events written."""
    upto = digest["chain_seq"]
    out.write(dumps({"kind": KIND, "merchant": merchant, "digest": digest}) + "\n")
    tree: list[list[bytes]] = []
    if merchant is not None:
        cur = await conn.execute("SELECT leaf FROM event_chain WHERE chain_seq <= %s ORDER BY chain_seq", (upto,))
        tree = merkle.levels([bytes(r[0]) for r in await cur.fetchall()])
    where = "" if merchant is None else "AND (e.data->>'merchant_id' = %(m)s OR e.metadata->>'merchant_id' = %(m)s)"
    written = 0
    async with conn.transaction(), conn.cursor(name="audit_export") as cur:
        await cur.execute(
            f"""SELECT c.chain_seq, c.hash, e.position, e.event_id::text, e.stream_id, e.stream_version, e.type,
                       e.recorded_at, e.data::text, e.metadata::text
                FROM event_chain c JOIN events e USING (position)
                WHERE c.chain_seq <= %(upto)s {where} ORDER BY c.chain_seq""",
            {"upto": upto, "m": merchant},
        )
        async for seq, h, position, event_id, stream_id, version, type_, at, data, metadata in cur:
            line: dict[str, Any] = {
                "chain_seq": seq,
                "event": {
                    "position": position,
                    "event_id": event_id,
                    "stream_id": stream_id,
                    "stream_version": version,
                    "type": type_,
                    "recorded_at": spec.timestamp(at),
                    "data": json.loads(data),
                    "metadata": json.loads(metadata),
                },
            }
            # A slice carries no chain hashes: without the events between, nobody could check them.
            if merchant is None:
                line["hash"] = bytes(h).hex()
            else:
                line["proof"] = [p.hex() for p in merkle.path(tree, seq - 1)]
            out.write(dumps(line) + "\n")
            written += 1
    return written


def _lines(raw: Iterable[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    for n, text in enumerate(raw, 1):
        text = text.removesuffix("\n")
        try:
            doc = json.loads(text)
        except ValueError as e:
            raise ExportError(f"line {n}: not JSON ({e})") from None
        if not isinstance(doc, dict) or dumps(doc) != text:
            raise ExportError(f"line {n}: not in canonical form (sorted keys, no whitespace)")
        yield n, doc


def verify(raw: Iterable[str], against: dict[str, Any] | None = None, public_key: str | None = None) -> int:
    """Check an export offline: its header's signed digest, then the chain (a full export) or every event's
    inclusion proof (a merchant's slice). ``against`` is a digest obtained elsewhere that the export must agree
    with. Returns the number of events checked.

    Raises:
        ExportError: the first line that does not verify, and why.
    """
    lines = _lines(raw)
    try:
        _, header = next(lines)
    except StopIteration:
        raise ExportError("empty file") from None
    if set(header) != {"kind", "merchant", "digest"} or header["kind"] != KIND:
        raise ExportError("line 1: not an export header")
    try:
        head = digests.check(header["digest"], public_key)
        other = digests.check(against, public_key) if against is not None else None
    except digests.DigestError as e:
        raise ExportError(f"digest: {e}") from None
    slice_of = header["merchant"]
    if other is not None and slice_of is not None and other["merkle_root"] != head["merkle_root"]:
        raise ExportError("a merchant's slice verifies only against the digest it was made with")
    if other is not None and other["chain_seq"] > head["chain_seq"]:
        raise ExportError("the digest given is newer than the export")
    root = bytes.fromhex(head["merkle_root"])
    prev, leaves, last_seq, count = spec.GENESIS, [], 0, 0
    for n, line in lines:
        keys = {"chain_seq", "event", "hash" if slice_of is None else "proof"}
        if set(line) != keys or not isinstance(line["event"], dict) or set(line["event"]) != _EVENT_FIELDS:
            raise ExportError(f"line {n}: not an event line")
        seq = line["chain_seq"]
        if (
            not isinstance(seq, int)
            or seq <= last_seq
            or seq > head["chain_seq"]
            or (slice_of is None and seq != last_seq + 1)
        ):
            raise ExportError(f"line {n}: chain_seq {seq} out of order")
        body = spec.canonical(**line["event"])
        if slice_of is None:
            prev = spec.link(prev, body)
            leaves.append(spec.leaf(body))
            if prev.hex() != line["hash"]:
                raise ExportError(f"line {n}: chain_seq {seq} (position {line['event']['position']}) breaks the chain")
            if other is not None and seq == other["chain_seq"] and prev.hex() != other["hash"]:
                raise ExportError(f"line {n}: chain_seq {seq} differs from the digest given")
        else:
            if slice_of not in (line["event"]["data"].get("merchant_id"), line["event"]["metadata"].get("merchant_id")):
                raise ExportError(f"line {n}: an event of another merchant")
            try:
                proof = [digests.hex_bytes(p) for p in line["proof"]]
            except digests.DigestError:
                raise ExportError(f"line {n}: a malformed proof") from None
            if not merkle.verify_inclusion(spec.leaf(body), seq - 1, head["tree_size"], proof, root):
                raise ExportError(f"line {n}: chain_seq {seq} is not in the digest's tree (its proof fails)")
        last_seq, count = seq, count + 1
    if slice_of is None:
        if last_seq != head["chain_seq"] or prev.hex() != head["hash"]:
            raise ExportError("the export ends before its digest's head, or its last hash differs")
        if merkle.root(leaves).hex() != head["merkle_root"]:
            raise ExportError("the events' Merkle root differs from the digest's")
        if other is not None and merkle.root(leaves[: other["tree_size"]]).hex() != other["merkle_root"]:
            raise ExportError("the events' Merkle root differs from the digest given")
    return count
