// The configs of this repository import 'stlr.libsonnet' from here; the file itself ships
// inside the package (`python -c "from allennlp_stlr.resources import libsonnet_path;
// print(libsonnet_path())"` prints where an installed copy is).
import '../allennlp_stlr/stlr.libsonnet'
