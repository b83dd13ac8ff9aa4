//! Call recording: a streaming, crash-safe stereo WAV writer (left: caller/visitor, right:
//! callee/operator), repair of files left by a crash, and a validating reader.
