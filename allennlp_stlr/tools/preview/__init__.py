"""
A preview of a `slanted_triangular` experiment before training it: what the schedule depends
on (`experiment`), the updates per epoch counted from the training data (`counting`), the
real scheduler driven in the trainer's order (`simulate`), config advice (`advice`) and the
table, CSV and plot (`render`). `command` is `stlr-preview` itself.
"""
