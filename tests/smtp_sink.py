"""An SMTP server on loopback for the accounts tests and benchmark (Python's aiosmtpd).

Usage: python3 tests/smtp_sink.py PORT DIR

Each message is written to DIR/<ns>.eml, where <ns> is when its DATA ended (CLOCK_REALTIME,
nanoseconds), through a temporary name, so a reader never sees half a message. Prints
"ready" once it accepts connections.
"""
import pathlib
import sys
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.dir = pathlib.Path(directory)

    async def handle_DATA(self, server, session, envelope):
        t = time.time_ns()
        tmp = self.dir / f".{t}.tmp"
        tmp.write_bytes(envelope.original_content or envelope.content)
        tmp.rename(self.dir / f"{t}.eml")
        return "250 OK"


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    pathlib.Path(directory).mkdir(parents=True, exist_ok=True)
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
