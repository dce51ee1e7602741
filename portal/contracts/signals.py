"""Signals contracts send to the features built on them, so that contracts never import those features
(DESIGN.md: a later feature calls an earlier one, never the reverse).

Receivers run inside the sender's transaction and may change the database; an error in one rolls back the
signing like any other failure.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# Sent once both parties have signed, after the signing gates opened. Sender: the Contract; keyword arguments
# ``actor`` (the user whose signature completed it) and ``now``. The reviews feature plans the contract's reviews.
contract_signed = _signals.signal("contract-signed")

# Sent when a contract in force ends: terminated (``delivery.terminate``) or completed (``delivery.complete``), after
# its status changed, inside that transaction. Sender: the Contract; keyword arguments ``actor``, ``now`` and
# ``reason`` (Chinese text naming the end, e.g. "合同于2027-03-01终止"). The reviews feature cancels the contract's
# open reviews and closes its open rectifications. (A draft withdrawn before signing has no reviews: not sent.)
contract_ended = _signals.signal("contract-ended")
