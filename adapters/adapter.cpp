#include "adapters/adapter.hpp"

// The adapters' shared helpers live next to this file as they appear (constant-time
// comparison, JSON payload decoding); each channel's code is in its own folder.
