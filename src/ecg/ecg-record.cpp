// EcgRecord helpers.
#include "diagecg/ecg/ecg-record.h"

namespace diagecg {

const std::vector<std::string>& standard_12_lead_names() {
    static const std::vector<std::string> names = {"I",  "II", "III", "aVR", "aVL", "aVF",
                                                   "V1", "V2", "V3",  "V4",  "V5",  "V6"};
    return names;
}

}  // namespace diagecg
