"""RFC 6962 Merkle hashing: the level-by-level root equals the RFC's recursive definition, and every leaf's
inclusion proof verifies for its own index and tree only."""

import hashlib

import pytest

from audit import merkle


def rfc_root(leaves: list[bytes]) -> bytes:
    """MTH straight from RFC 6962 section 2.1 (recursive split at the largest power of two below n)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return merkle.node(rfc_root(leaves[:k]), rfc_root(leaves[k:]))


def leaves_of(n: int) -> list[bytes]:
    return [hashlib.sha256(b"\x00" + str(i).encode()).digest() for i in range(n)]


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 33])
def test_the_root_is_the_rfc_6962_tree_hash(size: int) -> None:
    assert merkle.root(leaves_of(size)) == rfc_root(leaves_of(size))


@pytest.mark.parametrize("size", [1, 2, 3, 5, 6, 7, 8, 13, 32, 33])
def test_every_leaf_proves_its_inclusion_and_nothing_else_does(size: int) -> None:
    leaves = leaves_of(size)
    root, tree = merkle.root(leaves), merkle.levels(leaves)
    for i, leaf in enumerate(leaves):
        proof = merkle.path(tree, i)
        assert merkle.verify_inclusion(leaf, i, size, proof, root)
        assert not proof or not merkle.verify_inclusion(leaf, i, size, proof[:-1], root)
        assert not merkle.verify_inclusion(hashlib.sha256(leaf).digest(), i, size, proof, root)
        if size > 1:
            assert not merkle.verify_inclusion(leaf, (i + 1) % size, size, proof, root)


def test_a_known_vector_from_rfc_6962_test_data() -> None:
    # The two-leaf tree over the empty leaf and 0x00 (certificate-transparency's reference test inputs).
    empty, zero = hashlib.sha256(b"\x00").digest(), hashlib.sha256(b"\x00\x00").digest()
    assert merkle.root([empty]).hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert merkle.root([empty, zero]).hex() == "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"
