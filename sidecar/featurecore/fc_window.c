#include "../../feature_core/src/fc_window.c"
