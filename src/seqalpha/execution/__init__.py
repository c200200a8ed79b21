"""seqalpha.execution"""
