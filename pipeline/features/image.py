"""Image features: JPEG bytes and labels from the shards; decoding and augmentation in the graph.

Training: random-resized-crop (decoding only the crop) and a horizontal flip; evaluation:
resize and center-crop. Randomness is stateless, seeded per example from the window's
seeded generator, so a resumed stream augments exactly as the original would have.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pyarrow as pa

from pipeline.features import pack_bytes, unpack_bytes

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class ImageClassification:
    def __init__(self, size: int = 224, train: bool = True, image: str = "image", label: str = "label") -> None:
        self.size, self.train = size, train
        self.image_column, self.label_column = image, label
        self.columns = [image, label]

    def batches(self, window: pa.Table, batch_size: int, rng: np.random.Generator) -> Iterator[dict[str, np.ndarray]]:
        images = window.column(self.image_column)
        if pa.types.is_struct(images.type):
            images = images.combine_chunks().field("bytes")
        labels = window.column(self.label_column).to_numpy().astype(np.int64)
        seeds = rng.integers(0, 2**31 - 1, size=window.num_rows, dtype=np.int64)
        for start in range(0, window.num_rows - window.num_rows % batch_size, batch_size):
            buffer, offsets = pack_bytes(images.slice(start, batch_size))
            yield {"image/buffer": buffer, "image/offsets": offsets, "label": labels[start: start + batch_size],
                   "seed": seeds[start: start + batch_size]}

    def signature(self, batch_size: int) -> dict:
        import tensorflow as tf

        return {"image/buffer": tf.TensorSpec((), tf.string), "image/offsets": tf.TensorSpec((batch_size + 1,), tf.int64),
                "label": tf.TensorSpec((batch_size,), tf.int64), "seed": tf.TensorSpec((batch_size,), tf.int64)}

    def graph(self, ds, batch_size: int):
        import tensorflow as tf

        prepare = self._train_example if self.train else self._eval_example

        @tf.autograph.experimental.do_not_convert  # plain TF ops: AutoGraph's conversion only costs start-up
        def unpack(batch):
            return {"image": unpack_bytes(batch["image/buffer"], batch["image/offsets"]), "label": batch["label"],
                    "seed": batch["seed"]}
        return (ds.map(unpack).unbatch()
                .map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
                .batch(batch_size, drop_remainder=True))

    def _train_example(self, example):
        import tensorflow as tf

        seed = tf.stack([example["seed"], tf.constant(1, tf.int64)])
        shape = tf.io.extract_jpeg_shape(example["image"])
        begin, crop_size, _ = tf.image.stateless_sample_distorted_bounding_box(
            shape, bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), seed=seed, min_object_covered=0.1,
            aspect_ratio_range=(3 / 4, 4 / 3), area_range=(0.08, 1.0), max_attempts=10,
            use_image_if_no_bounding_boxes=True)
        window = tf.stack([begin[0], begin[1], crop_size[0], crop_size[1]])
        image = tf.io.decode_and_crop_jpeg(example["image"], window, channels=3)
        image = tf.image.resize(image, (self.size, self.size))
        image = tf.image.stateless_random_flip_left_right(image, seed=seed)
        return {"image": _normalize(image), "label": example["label"]}

    def _eval_example(self, example):
        import tensorflow as tf

        image = tf.io.decode_jpeg(example["image"], channels=3)
        shape = tf.cast(tf.shape(image)[:2], tf.float32)
        scale = (self.size / 0.875) / tf.reduce_min(shape)
        image = tf.image.resize(image, tf.cast(tf.round(shape * scale), tf.int32))
        image = tf.image.resize_with_crop_or_pad(image, self.size, self.size)
        return {"image": _normalize(image), "label": example["label"]}


def _normalize(image):
    import tensorflow as tf

    return (tf.cast(image, tf.float32) / 255.0 - tf.constant(MEAN)) / tf.constant(STD)
