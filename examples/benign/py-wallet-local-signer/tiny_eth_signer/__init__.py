"""Local message signing (toy)."""
import hashlib
import hmac

__all__ = ["sign_message", "derive_address"]


def sign_message(private_key, message):
    key = private_key[2:] if private_key.startswith("0x") else private_key
    return "0x" + hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


def derive_address(mnemonic, index=0):
    seed = hashlib.pbkdf2_hmac("sha512", mnemonic.encode(), b"mnemonic", 2048)
    return "0x" + hashlib.sha256(seed + bytes([index])).hexdigest()[-40:]
