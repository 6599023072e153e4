#include <napi.h>
#include <openssl/evp.h>
static Napi::Value Probe(const Napi::CallbackInfo& info) {
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  bool ok = EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1;
  EVP_CIPHER_CTX_free(c);
  return Napi::Boolean::New(info.Env(), ok);
}
static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("probe", Napi::Function::New(env, Probe));
  return exports;
}
NODE_API_MODULE(jetrecv_native, Init)
