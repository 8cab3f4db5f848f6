"""Making signing keys: the key itself (RSA-2048, its kid the RFC 7638 thumbprint, stored as private JWK JSON),
and the child process that makes them off the event loop.

The RSA library holds the GIL while it searches for primes, so a key made in a thread would stall every request
of the process for as long (about 100 ms). The child is `python -m tenants.key_generator`: it imports this module
and joserfc, not the broker, so it starts in a fraction of the broker's start-up. It reads one request a line on
its standard input and writes one key a line; it ends when its input closes, which happens when the broker closes
it and also, by the kernel, when the broker dies however it dies (SIGKILL included), so no child outlives its broker.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading

from joserfc.jwk import RSAKey

SIGNING_ALGORITHM = "RS256"
RSA_KEY_SIZE = 2048
# How long closing waits for the child to finish the key it is making and end, before killing it.
CLOSE_TIMEOUT_S = 10.0


def generate_signing_key() -> RSAKey:
    """An RSA-2048 key whose kid is its RFC 7638 thumbprint."""
    return RSAKey.generate_key(RSA_KEY_SIZE, {"alg": SIGNING_ALGORITHM, "use": "sig"}, auto_kid=True)


def private_jwk_json(key: RSAKey) -> str:
    """The private key as a JWK in JSON, the form it is stored in (encrypted)."""
    return json.dumps(key.as_dict(private=True), separators=(",", ":"))


class KeyGeneratorError(RuntimeError):
    """The child process ended without handing back a key (it was killed, or the generator is closed)."""


class KeyGenerator:
    """One child process making keys, one at a time, started on first use. Its methods block: call them from a
    thread (`asyncio.to_thread`)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        # Held while a key is asked for and read, so that closing never shuts a pipe another thread is using.
        self._lock = threading.Lock()
        self._closed = False

    def private_jwk_json(self) -> str:
        """A new signing key as private JWK JSON."""
        with self._lock:
            if self._closed:
                raise KeyGeneratorError("the key generator is closed")
            process = self._process = self._process or _start()
            assert process.stdin is not None and process.stdout is not None
            try:
                process.stdin.write(b"\n")
                process.stdin.flush()
                line = process.stdout.readline()
            except OSError:
                line = b""
            if not line.endswith(b"\n"):
                # It died (killed by someone): the next key starts a new one.
                self._process = None
                _end(process)
                raise KeyGeneratorError(f"the key-generating child process ended (status {process.returncode})")
        return line.decode()

    def close(self) -> None:
        """Ends the child: a key it is making is finished and handed back first."""
        with self._lock:
            self._closed = True
            process, self._process = self._process, None
        if process is not None:
            _end(process)


def _start() -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - this interpreter and this module, fixed arguments
        [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )


def _end(process: subprocess.Popen[bytes]) -> None:
    """Closes the child's input, which ends it, and reaps it."""
    assert process.stdin is not None and process.stdout is not None
    # A child that had already gone may leave a key request unsent in the buffer: closing then fails, harmlessly.
    with contextlib.suppress(OSError):
        process.stdin.close()
    try:
        process.wait(CLOSE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    process.stdout.close()


def main() -> None:
    """The child: a key for each line read, until the input closes."""
    # Ctrl-C at a terminal reaches the whole process group; the broker decides when its child ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for _ in sys.stdin.buffer:
        sys.stdout.write(private_jwk_json(generate_signing_key()) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
