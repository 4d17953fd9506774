"""RFC 6962 Merkle tree hashes over the chain's leaves: the root, inclusion proofs and their verification."""

import hashlib
from collections.abc import Sequence


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes (already sha256(0x00 || data)); the empty tree's root is sha256('').

    Computed level by level with an odd node carried up unpaired, which gives the same tree as the RFC's
    recursive split (its left subtrees are always complete), in linear time without recursion.
    """
    if not leaves:
        return hashlib.sha256(b"").digest()
    level = list(leaves)
    while len(level) > 1:
        nxt = [node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree, leaves first: what ``path`` reads proofs from without rehashing."""
    out = [list(leaves)]
    while len(out[-1]) > 1:
        cur = out[-1]
        nxt = [node(cur[i], cur[i + 1]) for i in range(0, len(cur) - 1, 2)]
        if len(cur) % 2:
            nxt.append(cur[-1])
        out.append(nxt)
    return out


def path(tree: list[list[bytes]], index: int) -> list[bytes]:
    """The audit path (RFC 6962 section 2.1.1) of leaf ``index``, bottom up, from ``levels``' output."""
    proof = []
    for level in tree[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(level[sibling])
        index //= 2
    return proof


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes) -> bool:
    """Whether ``proof`` shows leaf ``index`` of a tree of ``size`` leaves under ``expected_root`` (RFC 9162
    section 2.1.3.2, the verification algorithm)."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root
