//! Codec-independent frame encoders/decoders. (being written)
