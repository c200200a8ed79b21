"""seqalpha.features"""
