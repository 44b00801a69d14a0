"""Training the plate reader's recognition network: sample rendering, preprocessing, loop.

`prep` (crop preprocessing shared by training and reading) and `network`
(the EasyOCR-compatible custom network) are used at inference time too;
`samples` and `train` only by `lanecap train reader`.
"""
