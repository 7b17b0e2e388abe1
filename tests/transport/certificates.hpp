// Certificates for the transport tests, made when a test first asks for
// them with the openssl command-line tool (EC P-256 keys: fast), in a
// temporary directory kept for the life of the test process:
//
//   ca.crt            the test CA ("ctmqtt test CA")
//   server.crt/.key   signed by ca, for localhost and 127.0.0.1
//   client.crt/.key   signed by ca: a client certificate
//   client-enc.key    client.key encrypted with the password "secret"
//   expired.crt/.key  signed by ca, for localhost and 127.0.0.1, valid in 2020 only
//   other-ca.crt      another CA, nobody's trust
//   other.crt/.key    signed by other-ca, for localhost and 127.0.0.1
//   other-client.crt/.key  signed by other-ca: a client certificate
//   ca.der            ca.crt in DER; client.crt.der, client.key.der likewise
//   hashed/           ca.crt under its hash name (a CA directory)
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "../support/mosquitto_broker.hpp"

namespace ctmqtt_test {

class test_certificates {
public:
    /// The certificates of this process, made on first use.
    static const test_certificates& get() {
        static const test_certificates certificates;
        return certificates;
    }

    std::string path(const std::string& name) const { return (dir_.path() / name).string(); }
    std::string text(const std::string& name) const { return detail::read_file(path(name)); }
    std::vector<std::byte> bytes(const std::string& name) const {
        const auto t = text(name);
        std::vector<std::byte> out(t.size());
        for (std::size_t i = 0; i < t.size(); ++i)
            out[i] = static_cast<std::byte>(t[i]);
        return out;
    }

private:
    test_certificates() : dir_("ctmqtt-certs-") {
        const auto d = dir_.path().string();
        std::ofstream(dir_.path() / "server.ext")
            << "subjectAltName = DNS:localhost, IP:127.0.0.1\n"
            << "extendedKeyUsage = serverAuth\n";
        std::ofstream(dir_.path() / "client.ext") << "extendedKeyUsage = clientAuth\n";
        // `openssl ca` is the only way to give a certificate dates in the past.
        std::ofstream(dir_.path() / "ca.cnf")
            << "[ca]\ndefault_ca = test_ca\n[test_ca]\ndatabase = " << d
            << "/index.txt\nnew_certs_dir = " << d << "\nserial = " << d
            << "/serial\ndefault_md = sha256\npolicy = any\nunique_subject = no\n"
            << "[any]\ncommonName = supplied\n"
            << "[server_ext]\nsubjectAltName = DNS:localhost, IP:127.0.0.1\n";
        std::ofstream(dir_.path() / "index.txt");
        std::ofstream(dir_.path() / "serial") << "1000\n";

        const std::string key = "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256";
        const std::string script =
            "set -e\ncd '" + d + "'\n" +
            // two CAs
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 "
            "-subj '/CN=ctmqtt test CA' -keyout ca.key -out ca.crt\n"
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 "
            "-subj '/CN=another CA' -keyout other-ca.key -out other-ca.crt\n" +
            // name ca issuer key csr ext out
            "sign() { " + key +
            " -out $1.key; "
            "openssl req -new -key $1.key -subj \"/CN=$2\" -out $1.csr; "
            "openssl x509 -req -in $1.csr -CA $3.crt -CAkey $3.key -CAcreateserial -days 30 "
            "-extfile $4 -out $1.crt; }\n"
            "sign server localhost ca server.ext\n"
            "sign client ctmqtt-test-client ca client.ext\n"
            "sign other localhost other-ca server.ext\n"
            "sign other-client ctmqtt-test-client other-ca client.ext\n"
            "openssl pkey -in client.key -aes256 -passout pass:secret -out client-enc.key\n" +
            key +
            " -out expired.key\n"
            "openssl req -new -key expired.key -subj /CN=localhost -out expired.csr\n"
            "openssl ca -batch -config ca.cnf -cert ca.crt -keyfile ca.key -in expired.csr "
            "-out expired.crt -startdate 20200101000000Z -enddate 20200102000000Z "
            "-extensions server_ext -notext\n"
            "openssl x509 -in ca.crt -outform DER -out ca.der\n"
            "openssl x509 -in client.crt -outform DER -out client.crt.der\n"
            "openssl pkey -in client.key -outform DER -out client.key.der\n"
            "mkdir hashed && cp ca.crt hashed/ && openssl rehash hashed\n";
        std::ofstream(dir_.path() / "make.sh") << script;
        const std::string command = "sh '" + d + "/make.sh' > '" + d + "/make.log' 2>&1";
        if (std::system(command.c_str()) != 0)
            throw std::runtime_error("making the test certificates failed:\n" +
                                     detail::read_file(dir_.path() / "make.log"));
    }

    detail::temp_dir dir_;
};

} // namespace ctmqtt_test
