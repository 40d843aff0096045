"""course_lib: the private reference library of the CNN course.

numpy parts (float64, NCHW): :mod:`course_lib.arithmetic`, :mod:`course_lib.conv`,
:mod:`course_lib.separable`, :mod:`course_lib.pooling`, :mod:`course_lib.layers`,
:mod:`course_lib.batchnorm`, :mod:`course_lib.gradcheck`, :mod:`course_lib.stripes`,
:mod:`course_lib.tinycnn`. PyTorch part: :mod:`course_lib.fashion`.
Students never receive this package; the autograder uses it as the reference.
"""

__version__ = "0.1.0"
