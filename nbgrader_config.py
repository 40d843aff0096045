"""nbgrader configuration of the CNN course (read by every ``nbgrader`` command run in this folder).

Paths are relative to this file's folder: instructors edit ``source/<id>/<id>.ipynb``, ``make release``
writes the student versions to ``release/<id>/`` (see ``autograder/release.py``). A running course lives
outside the checkout: ``make course`` (``autograder/course.py``) creates a course root whose own
``nbgrader_config.py`` loads this file and sets the root, the gradebook and the exchange. Whatever
grading writes (gradebook, submitted/, autograded/, feedback/, grades.csv) is never tracked.
"""

import os

c = get_config()  # noqa: F821  (injected by traitlets' config loader)

HERE = os.path.dirname(os.path.abspath(__file__))

# The course, in teaching order. nbgrader assignment id = folder under source/ = notebook name.
# `make demo` adds them to the gradebook (`nbgrader db assignment add`); a test checks that this list,
# the source/ folders and autograder.items.ASSIGNMENTS agree.
ASSIGNMENTS = (
    "conv_arithmetic",
    "convolution_by_hand",
    "backprop_conv_pool",
    "tinycnn",
    "fashion_mnist_kernels",
    # Last: it opens the nn.BatchNorm2d that fashion_mnist_kernels uses as a black box, and builds on
    # the convolutions and backward passes of Assignments 2 and 3 (numpy only, no torch).
    "batchnorm_and_efficient_convs",
)

c.CourseDirectory.course_id = "cnn-course"
c.CourseDirectory.root = HERE
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(HERE, "gradebook.db")  # git-ignored (*.db)

# Released stubs: say what to do instead of nbgrader's bare `raise NotImplementedError()`.
c.ClearSolutions.code_stub = {
    "python": (
        "# YOUR CODE HERE: replace the line below with your implementation.\n"
        'raise NotImplementedError("write this function as its docstring says, then run the checks below")'
    )
}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Never copied between nbgrader's folders (nbgrader's defaults plus hypothesis' cache folder).
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".hypothesis"]

# Autograde grades through the sandbox (autograder/gradebook.py): the kernel execution step is replaced
# by the standalone grader's pipeline run on the submitted file in the OS-enforced sandbox, and the
# test cells get its feedback (stdout) and points (execute_result). So the gradebook, the formgrader,
# generate_feedback and export all carry the sandbox's verdict, never the fakeable in-kernel score.
# The in-kernel `check` still runs when an instructor executes a source notebook (and in validate).
c.Autograde.autograde_preprocessors = [
    "autograder.gradebook.SandboxGrade",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# (Deleted test cells are put back by SandboxGrade itself: nbgrader 0.9's OverwriteCells.add_missing_cells
# fails on a notebook with a split solution cell.)
# The sandbox's isolation level (namespaces is required unless an instructor chooses otherwise).
c.SandboxGrade.isolation = "namespaces"

# Autograde / validate: a cell may take up to 5 minutes (the Fashion-MNIST training cells run a small
# budget when NBGRADER_EXECUTION is set, about a minute on 2 CPU cores); whole notebooks take far less.
c.Execute.timeout = 300
c.Execute.interrupt_on_timeout = True
# Validate also reports every failing check cell (students get the same setting, see autograder/course.py):
# the released test cells have no hidden tests, so otherwise a notebook of stubs passes Validate.
c.Validator.validate_all = True

# Keep feedback readable when a submission prints in a loop or fails deep inside numpy/torch.
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 60

# Autograde: put the hidden tests back into the test cells a student left as released, so nbgrader does
# not take every one of them for an edited cell ("checksum ... has changed!"); see nbgrader_plugins.py.
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "autograder.nbgrader_plugins.DeduplicateIds",  # nbgrader's fails a split solution cell (see there)
    "nbgrader.preprocessors.OverwriteKernelspec",
    "autograder.nbgrader_plugins.RestoreHiddenTests",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Feedback: plain nbgrader copies the hidden test code into the feedback HTML; remove those regions
# (the check's printed feedback, the cell's output, stays), and render the formulas as MathML so the
# page reads offline (nbgrader's templates load MathJax from a CDN). The formgrader too (HTMLExporter).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.nbgrader_plugins.ClearHiddenTestsInFeedback",
    "autograder.nbgrader_plugins.RenderMath",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
c.HTMLExporter.preprocessors = ["autograder.nbgrader_plugins.RenderMath"]
c.Exchange.path_includes_course = True
