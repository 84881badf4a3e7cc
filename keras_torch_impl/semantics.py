"""What Keras needs to compute what torch computes, on PyTorch: the Keras column's classes,
written in ``keras.ops`` (and ``keras.ops`` alone, so that they run on every backend).
Nothing of its own to add: its adaptations are Keras'."""

from common import columns

columns.enter("keras-torch")  # KERAS_BACKEND=torch before Keras loads, or one line why this process cannot

from keras_impl import semantics as keras_semantics  # noqa: E402

ADAPTATIONS = keras_semantics.ADAPTATIONS
LOCKSTEP = keras_semantics.LOCKSTEP
lockstep_calls = keras_semantics.lockstep_calls
