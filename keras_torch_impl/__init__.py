"""The Keras column on PyTorch (``keras-torch``): ``keras_impl`` run with
``KERAS_BACKEND=torch``, as ``keras_impl/_backends.py`` says. Its family's root is PyTorch's
(``common.columns``). Keras on torch would import JAX (its Orbax checkpoint callback tries):
the registry keeps it out (``jax_impl.another_family_loads``).
"""
