//! Codecs: G.711 (PCMU/PCMA), resampling, packet-loss concealment.
