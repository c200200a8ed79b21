"""seqalpha.train"""
