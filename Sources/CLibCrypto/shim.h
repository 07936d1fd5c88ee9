// OpenSSL's libcrypto (EVP): AES-128-CBC and SHA-256 for Fernet, with the AES-NI and SHA-NI code paths
// libcrypto picks at run time.
#include <openssl/evp.h>
