"""The codec of every event type of every aggregate: the one list of what may be stored."""

from typing import get_args

from commands import merchant, order, payment
from ledger import Codec

CODEC = Codec([*get_args(merchant.Event), *get_args(order.Event), *get_args(payment.Event)])
