"""The personal-data keys: re-sealing under the newest key, the middle step of a rotation."""
