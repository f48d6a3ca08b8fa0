# baselines: classical estimators (added with the baselines module)
