"""The auditor's tools: the chain's specification, signed digests, verification, exports, Merkle proofs, replay."""
