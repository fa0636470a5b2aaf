"""
The tools: what the commands do (`allennlp_stlr.cli` names them). Nothing here runs during
training, and nothing in the core imports it: each tool is imported when its command runs.

- `preview/`: `stlr-preview`, the schedule of a config before training;
- `groups/`: `stlr-groups`, a model's layers found from its parameter names and one traced
  training batch;
- `find_lr/`: `stlr-find-lr`, the learning-rate range test over a config's layer groups;
- `libsonnet`: where the packaged `stlr.libsonnet` is;
- `config`, `model`, `failures`, `errors`: reading a config and building its model as
  `allennlp train` does, and reporting what goes wrong, for every command.
"""
