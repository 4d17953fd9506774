"""Recompute the chain from the raw ``events`` rows and check it against a digest.

Shares nothing with the chainer but the specification (audit/spec.py): its own SQL, its own JSON decoding,
its own walk in commit order. A superuser can change, delete or insert rows behind the triggers; each shows
as the first chain_seq whose recomputed link differs from the chain recorded when the event was fresh.
"""

from dataclasses import dataclass
from typing import Any

import psycopg

from audit import merkle, spec


@dataclass(frozen=True)
class Finding:
    """The first place the log and its chain disagree (``chain_seq`` 0: the digest itself)."""

    chain_seq: int
    position: int | None
    problem: str

    def __str__(self) -> str:
        where = f"chain_seq {self.chain_seq}" + (f", event position {self.position}" if self.position else "")
        return f"{where}: {self.problem}"


def _bytes_of(row: tuple[Any, ...]) -> bytes:
    position, event_id, stream_id, version, type_, data, metadata, recorded_at = row
    return spec.canonical_text(
        position=position,
        event_id=event_id,
        stream_id=stream_id,
        stream_version=version,
        type=type_,
        recorded_at=recorded_at,
        data=data,
        metadata=metadata,
    )


async def verify(conn: psycopg.AsyncConnection[Any], digest: dict[str, Any] | None) -> Finding | None:
    """None when every event up to the digest's head (or the recorded chain's, without one) recomputes to the
    recorded chain and to the digest; else the first disagreement."""
    cur = await conn.execute("SELECT chain_seq, position, hash FROM event_chain ORDER BY chain_seq")
    recorded = [(int(s), int(p), bytes(h)) for s, p, h in await cur.fetchall()]
    upto = digest["chain_seq"] if digest else len(recorded)
    chained = {p for _, p, _ in recorded}
    prev, leaves, seq = spec.GENESIS, [], 0
    async with conn.transaction():
        # One snapshot for the walk; text, not jsonb, so that no JSON decoder but ours is involved.
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        async with conn.cursor(name="audit_verify") as rows:
            await rows.execute(
                """SELECT position, event_id::text, stream_id, stream_version, type, data::text, metadata::text,
                          recorded_at
                   FROM events ORDER BY tx_id, position"""
            )
            async for row in rows:
                if seq == upto:
                    break
                position = int(row[0])
                if position not in chained:
                    if seq >= len(recorded):
                        break  # not chained yet: a fresh event past the recorded head, not tampering
                    return Finding(seq + 1, position, "an event that is not in the chain was inserted here")
                seq += 1
                if seq > len(recorded):
                    return Finding(seq, position, "the recorded chain ends before the digest's head")
                want_seq, want_pos, want_hash = recorded[seq - 1]
                if want_seq != seq:
                    return Finding(seq, position, "the recorded chain has a gap here")
                if position != want_pos:
                    return Finding(seq, want_pos, "the event chained here is missing (deleted)")
                body = _bytes_of(row)
                prev = spec.link(prev, body)
                leaves.append(spec.leaf(body))
                if prev != want_hash:
                    return Finding(seq, position, "the event's content differs from what was chained")
    if seq < upto:
        missing = recorded[seq][1] if seq < len(recorded) else None
        return Finding(seq + 1, missing, "the event chained here is missing (deleted)")
    if digest is not None:
        if prev.hex() != digest["hash"]:
            return Finding(0, None, f"the recomputed hash at chain_seq {upto} differs from the digest's")
        if merkle.root(leaves).hex() != digest["merkle_root"]:
            return Finding(0, None, f"the recomputed Merkle root of {upto} events differs from the digest's")
    return None
