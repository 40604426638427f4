#include "adapters/adapter.hpp"

// The adapters' shared helpers (constant-time comparison, JSON payload decoding, HMAC and
// base64, UTF-16 lengths and splitting, redaction) are in util.hpp / util.cpp next to this
// file; each channel's code is in its own folder.
