"""The ``rust-0.1`` wire mode: the kaboodle crate 0.1.5's protocol, spoken so that a Python
node can join a Rust mesh unchanged (shared/reference/rust-kaboodle-0.1.5-wire.md).

:mod:`.wire` is its bincode codec, strict where the crate is lax; :mod:`.node` the crate's
membership rules as a sans-IO state machine, without the crate's weaknesses.
"""
