//! Envelope encryption for hush: master key, per-app data keys, AEAD sealing, token hashing.
