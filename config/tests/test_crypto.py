"""AES-GCM sealing: round trip, purpose binding, and refusal of anything altered."""
from __future__ import annotations

import pytest

from config.crypto import SecretDecryptionError, seal, unseal


def test_sealed_value_opens_with_its_purpose():
    assert unseal(seal("s3cret", purpose="upstream-credentials"), purpose="upstream-credentials") == "s3cret"


def test_sealed_value_does_not_open_for_another_purpose():
    with pytest.raises(SecretDecryptionError):
        unseal(seal("s3cret", purpose="a"), purpose="b")


@pytest.mark.parametrize("alter", [
    lambda sealed: sealed + "-TAMPERED",  # after the base64 padding, where lenient decoders stop reading
    lambda sealed: sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:],
    lambda sealed: sealed.replace(":", ":x", 1),
])
def test_altered_value_is_refused(alter):
    sealed = seal("a value long enough to need padding!", purpose="p")
    with pytest.raises(SecretDecryptionError):
        unseal(alter(sealed), purpose="p")
