"""Kafka's key hash, as the relay computes it, against aiokafka's own (no broker needed)."""

import os
import random

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from mercator.common.bus.kafka import KeyPartitioner, murmur2


def test_murmur2_is_kafkas_for_keys_of_every_length():
    rng = random.Random(7)
    for length in range(70):
        for _ in range(50):
            key = bytes(rng.randrange(256) for _ in range(length))
            assert murmur2(key) == aiokafka_murmur2(key), key


def test_a_key_gets_the_partition_kafkas_default_partitioner_gives_it():
    ours = KeyPartitioner()
    for n in (1, 3, 7, 12):
        partitions = list(range(n))
        for _ in range(300):
            key = os.urandom(36)
            expected = DefaultPartitioner()(key, partitions, partitions)
            assert ours(key, partitions, partitions) == expected
            assert ours(key, partitions, partitions) == expected  # remembered, the same
