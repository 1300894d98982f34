"""The penguins label, inside Transform: 1 for a male penguin, 0 for a female one."""

import tensorflow as tf

POSITIVE = "male"


def is_male(columns: dict) -> tf.Tensor:
    """`columns`: dense raw columns (a missing string is ""). The curated schema requires
    `sex` in every row, so "" never reaches a trained model; were it to, it would count
    as 0 (not male)."""
    return tf.cast(tf.equal(columns["sex"], POSITIVE), tf.int64)
