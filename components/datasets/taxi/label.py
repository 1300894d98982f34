"""The taxi label, inside Transform: big tipper <=> tips > 20 % of the fare."""

import tensorflow as tf

TIP_FRACTION = 0.2


def big_tipper(columns: dict) -> tf.Tensor:
    """`columns`: dense raw columns (a missing number is 0)."""
    tips = tf.cast(columns["tips"], tf.float32)
    fare = tf.cast(columns["fare"], tf.float32)
    return tf.cast(tips > TIP_FRACTION * fare, tf.int64)
