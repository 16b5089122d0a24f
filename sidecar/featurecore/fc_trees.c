#include "../../feature_core/src/fc_trees.c"
