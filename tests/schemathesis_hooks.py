"""schemathesis hooks for tests/tests/schemathesis.rs: prompt uploads (`audio/wav`) are sent
as raw bytes, like `application/octet-stream`."""
import schemathesis

schemathesis.serializer.alias("audio/wav", "application/octet-stream")
