"""seqalpha.models"""
