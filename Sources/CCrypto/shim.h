// OpenSSL libcrypto (Debian libssl-dev): SHA-256 of uploaded adapters with the CPU's SHA
// instructions, ~10x the portable Swift implementation.
#include <openssl/evp.h>
