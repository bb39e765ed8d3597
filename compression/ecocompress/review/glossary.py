"""The words the product uses, in plain language: one table for the pages' glossary and docs/glossary.md."""

from __future__ import annotations

from ecocompress.core.records import MeasureSettings

GLOSSARY: dict[str, str] = {
    "Baseline (uncompressed)": "The original model, measured the same way; every saving is a comparison with it.",
    "Sparsity": "The share of a model's weights set to zero (pruned). Zeros make the stored file smaller; a processor "
                "only runs faster when whole channels are removed (structured pruning).",
    "Structured pruning": "Removing whole channels or neurons, so the network itself gets smaller and faster; it risks "
                          "more accuracy than removing single weights.",
    "Bit-width": "How many bits store each weight: 32 is the original floating-point model; 8 bits is a quarter of "
                 "the size. Below 7 bits the model is retrained briefly with the rounding in place.",
    "int8, QDQ, fp16": "Number formats the compressed model can run in on onnxruntime: 8-bit integers (int8; QDQ is how "
                       "ONNX marks where values are quantized and dequantized) or 16-bit floats (fp16). ecocompress "
                       "times each and keeps the fastest; 'first layer fp32' means that layer stays in 32-bit floats "
                       "because it was faster that way.",
    "Student (distillation)": "A narrower network trained to imitate the original's answers; size 1/2 has half the "
                              "channels in each layer.",
    "Low-rank factorisation": "Replacing a large layer by two thin ones that approximate it (via SVD), then retraining "
                              "briefly.",
    "Fine-tuning": "A short retraining after compression that recovers most of the accuracy it cost.",
    "First answer (before fine-tuning)": "Shown seconds after you move a knob: the same setting without its "
                                         "fine-tuning, measured with two pairs of energy windows (a wider interval). "
                                         "The fine-tuned, fully measured point replaces it when ready; charts and "
                                         "recommendations use only fine-tuned points.",
    "Energy per 1,000 inferences": "Electricity the computer used to answer 1,000 requests with the model, read by "
                                   "CodeCarbon while the model ran in onnxruntime.",
    "Estimated / measured energy": "Measured: read from the processor's energy counters. Estimated: CodeCarbon had no "
                                   "counters on this machine and multiplied a typical power by the time the work took; "
                                   "ratios between settings are still fair, absolute figures are approximate.",
    "95% interval": "The range the true value lies in with 95% confidence, from repeated measurements. A saving whose "
                    "interval includes no change is reported as 'no measurable difference', never as a saving.",
    "Paired windows": "Energy is read in short windows that alternate between the baseline and the setting, so a "
                      "machine getting busier affects both alike.",
    "Pareto front": "The settings for which nothing else measured is both cheaper and at least as accurate: the best "
                    "trade-offs. Points off the front are beaten by a point on it.",
    "Accuracy budget": "How many percentage points of accuracy you accept to lose for a saving; the recommendation is "
                       "the cheapest setting within it.",
    "Percentage point": "The difference between two percentages: 99.2% to 98.7% is 0.5 points less.",
    "CO2e": "Carbon-dioxide equivalent: energy used times the carbon intensity of the electricity grid where it runs.",
    "Grid carbon intensity": "Grams of CO2e emitted per kWh of electricity in a country (CodeCarbon's data, with its year).",
    "PUE": "Power usage effectiveness of a data centre: total power over the computers' power (1.0 = no overhead; "
           "1.5 = half as much again for cooling and the rest).",
    "Scenario: online or batch": "Online: one request at a time (batch 1), as a live service answers. Batch: many "
                                 f"requests in one call ({MeasureSettings.batch_words()}), as an offline job runs. "
                                 "The best setting can differ.",
    "Measurement series": "Points measured under the same conditions (scenario, threads, code version, forced power); "
                          "only points of one series are compared or drawn together.",
    "Stored size": "Bytes of the compressed file you would ship (zeros and low-bit weights packed). The runnable ONNX "
                   "file can be larger: runtimes need full-size tensors.",
    "Occupancy bitmask": "How the stored file marks which weights are non-zero: one bit per weight, then only the "
                         "non-zero values.",
    "Modelled energy": "Energy computed from operation counts and published energy per operation for a type of hardware "
                       "(for example an EIE-like sparse accelerator, a chip that skips zero weights); an estimate of "
                       "what dedicated hardware would gain, never mixed with measured energy.",
    "SCI (Software Carbon Intensity)": "The Green Software Foundation's rate, standardised as ISO/IEC 21031:2024: "
                                       "grams of CO2e per functional unit, (energy x grid intensity + embodied share) "
                                       "/ R. It is a rate for comparing versions of software, not a total.",
    "Functional unit (R)": "What one SCI figure is per: one inference, 1,000 requests, a batch of N, or a user-day of "
                           "N inferences. You choose the one your review counts in.",
    "Scope 2: location-based and market-based": "The GHG Protocol's two ways of counting emissions from purchased "
                                                "electricity. Location-based uses the grid's average intensity; "
                                                "market-based uses what your contracts say (a supplier's factor, or "
                                                "the residual mix left after others' claims). Reviews report both, "
                                                "side by side, never blended.",
    "Embodied carbon": "Emissions from making, shipping and disposing of the hardware, shared over its lifetime. "
                       "SCI counts the share of the time and cores one unit reserves. Compression lowers the fleet's "
                       "embodied emissions only when fewer machines are needed.",
    "Water (WUE and off-site)": "On-site: litres the data centre's cooling uses per kWh of computing (WUE). Off-site: "
                                "water consumed generating the electricity. Shown only where a sourced figure exists.",
    "Energy rating": "A letter from A (least) to G for energy per 1,000 inferences on a CPU, from fixed bands half a "
                     "decade apart. When the 95% interval spans two bands, both letters are shown (for example C-D).",
    "ONNX and onnxruntime": "ONNX is a standard file format for trained models; onnxruntime is the widely used engine "
                            "that runs them. Every figure here comes from the compressed model running in it.",
}


def markdown() -> str:
    """The glossary as Markdown (a definition per term), as docs/glossary.md holds it."""
    return "\n".join(f"- **{term}**: {text}" for term, text in GLOSSARY.items())
